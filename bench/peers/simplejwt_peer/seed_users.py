"""Create the peer's users from JSON on stdin: `[{"username": ..., "password": ...}, ...]`.
Run with the peer's environment (bench/run_http.py does); prints how many were created."""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer.settings")

import django

django.setup()

from django.contrib.auth import get_user_model


def main() -> None:
    users = json.load(sys.stdin)
    model = get_user_model()
    for user in users:
        model.objects.create_user(username=user["username"], password=user["password"])
    print(json.dumps({"created": len(users)}))


if __name__ == "__main__":
    main()
