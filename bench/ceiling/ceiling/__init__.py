"""The physical-limit project of `make bench` (bench/run_http.py): the least a Django + DRF request
can cost on this machine, with nothing of the identity service in it."""
