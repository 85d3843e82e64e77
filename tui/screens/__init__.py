"""The app's screens, one class per module."""
