"""A minimal Django project serving djangorestframework-simplejwt, the peer of bench/run_http.py."""
