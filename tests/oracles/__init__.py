"""Independent references the package is checked against (the Brian2 network simulation)."""
