"""NiceGUI pieces of sinchchat; each takes the service and callbacks as parameters."""
