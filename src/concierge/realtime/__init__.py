"""Real-time interface: Channels consumers and event fan-out (the live chat issue fills it)."""
