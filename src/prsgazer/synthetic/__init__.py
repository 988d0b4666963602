"""Synthetic data for demos, tests and benchmarks (outside the engine): `simulate` (msprime panels
with 5 superpopulations, people, scoring files) and `files` (writers of pgen/VCF/scoring files).
"""
