from dvc_pedata.cli import run

run()
