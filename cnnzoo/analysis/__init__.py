"""Analyses of residual networks: the seeds' studies, one command each (`cnnzoo analyze`).

He et al. 2016 (seed 001, §4.2, Fig. 1, 6, 7): `degradation` (training and test
error of plain and residual nets against iterations) and `responses` (std of the
3x3 layers' responses). Veit et al. 2016, read by the survey (seed 003, §5.3):
`paths` (the unravelled view: path lengths, gradient per path length) and
`lesion` (deleting and reordering units of a trained net). `surgery` is the block
surgery they rest on; `report` writes each study's JSON and PNG.
"""
