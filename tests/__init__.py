"""Unit tests and the test oracles (tests/oracles) of lprnn."""
