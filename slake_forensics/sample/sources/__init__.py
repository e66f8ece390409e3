"""Background activity per Security Lake source."""
