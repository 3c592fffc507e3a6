from mlops_dl.cli import run

run()
