"""The pure core: plain values in, plain values out, time passed in. No I/O, no threads."""
