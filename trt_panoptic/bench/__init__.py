"""Benchmarks: multiply-adds and activation memory (:mod:`.flops`), latency statistics (:mod:`.latency`),
the backbone-variant comparison (:mod:`.compare`) and reports (:mod:`.report`)."""
