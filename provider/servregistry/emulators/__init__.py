"""Local emulators of registry APIs that have none of their own."""
