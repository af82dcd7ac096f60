"""Pure signal processing on the 8 kHz telephone line: numpy and scipy only.

No I/O, no threads, no clocks, and nothing else of phonesim is imported here, so
every module can be tested sample by sample and reused anywhere.
"""
