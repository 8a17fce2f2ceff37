"""Generated sample and messy returns for the demo and the tests."""
