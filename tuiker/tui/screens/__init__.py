"""The app's screens: the main panels, and the dialogs pushed over them."""
