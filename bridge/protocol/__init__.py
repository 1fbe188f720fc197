"""The Lyria RealTime wire protocol, sans-I/O: codec, reconnect policy, rotation arithmetic."""
