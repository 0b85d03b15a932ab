"""What runs on the PYNQ board (or its emulation): numpy, pynq and finn-plus-driver only."""
