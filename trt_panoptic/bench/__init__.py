"""Benchmarks: multiply-adds and activation memory (:mod:`.flops`), latency (:mod:`.latency`), reports (:mod:`.report`)."""
