"""Speed and memory measurements (`make bench`); never asserted in tests."""
