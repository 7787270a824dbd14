"""Temporal itself: the plugin, connecting, the embedded dev server, the codec and its server."""
