"""The command line and the headless notebook runner."""
