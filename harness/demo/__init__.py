"""The demo: a simulated online shop's support agent, its captured log, and two versions to compare."""
