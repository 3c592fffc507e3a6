"""Inference benchmarks: engines, the benchmark run, the load client, the report.

Torch-free except the PyTorch baselines, which `bench.engines` imports in their own processes.
"""
