"""SIP outside line benchmarks: call set-up time, RTP round trip, CPU per call.

    python -m benchmarks.sip                # 5 calls to baresip, a 10 s echo call through SIPp
    python -m benchmarks.sip --seconds 15   # a longer echo call (15 s at most)

Needs baresip-core and sip-tester (Debian) and the ``sip`` extra.  See ``__main__.py``;
figures go to docs/sip.md.
"""
