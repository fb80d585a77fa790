"""A phone you can run: enroll from the browser's QR code, then approve or deny logins.

It speaks the Guardian phone protocol exactly as the Android and iOS SDKs do
(through :class:`mfa.testing_phone.Phone`, the same code the tests use), and
receives pushes from the service's webhook push transport instead of APNs/FCM::

    # the service, sending pushes to this phone's listener
    MFA_PUSH_TRANSPORT=webhook MFA_PUSH_WEBHOOK_URL=http://127.0.0.1:8765/ \\
        MFA_WEBHOOK_SECRET=s3cret mfa serve

    python examples/phone.py enroll 'otpauth://totp/acme:bob?...&enrollment_tx_id=etx_…&base_url=…'
    MFA_WEBHOOK_SECRET=s3cret python examples/phone.py listen --port 8765 &
    python examples/phone.py pending
    python examples/phone.py approve          # the newest push; or: deny --reason "not me"
    python examples/phone.py rename "Work phone"
    python examples/phone.py remove

The phone's key, enrollment and received pushes live in ``--state`` (default
``phone-state.json``): keep it private, it holds the device's private key.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mfa.testing_phone import Phone, PhoneAccount, parse_enrollment_uri
from transports.webhook import verify_signature

_LOCK = threading.Lock()  # the listener thread and the commands share the state file


def load(path: Path) -> dict[str, Any]:
    with _LOCK:
        state: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return state


def save(path: Path, state: dict[str, Any]) -> None:
    with _LOCK:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.chmod(tmp, 0o600)
        tmp.replace(path)


def phone_from(state: dict[str, Any]) -> Phone:
    key = serialization.load_pem_private_key(state["key_pem"].encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    phone = Phone(
        state["base_url"],
        name=state["name"],
        service=state["service"],
        push_token=state["push_token"],
        identifier=state["identifier"],
        key=key,
    )
    if state.get("account"):
        phone.account = PhoneAccount(**state["account"])
    return phone


def state_of(phone: Phone, inbox: list[dict[str, Any]]) -> dict[str, Any]:
    pem = phone.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    account = phone.account
    return {
        "base_url": phone.base_url,
        "name": phone.name,
        "service": phone.service,
        "push_token": phone.push_token,
        "identifier": phone.identifier,
        "key_pem": pem.decode(),
        "account": None if account is None else account.__dict__,
        "inbox": inbox,
    }


def answer_for(response: httpx.Response) -> dict[str, Any]:
    """The service's answer, or its contract error, as one JSON object."""
    if response.status_code == 204:
        return {"ok": True}
    body: dict[str, Any] = response.json()
    return body if response.is_success else {"ok": False, **body}


# ------------------------------------------------------------------ webhook listener


def make_listener(path: Path, port: int, secret: str | None) -> ThreadingHTTPServer:
    """An HTTP server taking the service's push webhooks into this phone's inbox."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            signature = self.headers.get("x-mfa-signature", "")
            if secret is not None and not verify_signature(secret, signature, raw):
                self.send_response(401)
                self.end_headers()
                return
            message = json.loads(raw)
            state = load(path)
            if message.get("device_token") != state.get("push_token"):
                self.send_response(410)  # not ours: a dead token, as far as we know
                self.end_headers()
                return
            state.setdefault("inbox", []).append(message["payload"])
            save(path, state)
            print(f"push for {message.get('tenant_id')}: run 'phone.py pending'", flush=True)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: a push carries a transaction token

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


# ------------------------------------------------------------------ commands


def run(argv: Sequence[str], http: httpx.Client | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    path = Path(args.state)
    client = http or httpx.Client(timeout=10)
    try:
        return _command(args, path, client)
    finally:
        if http is None:
            client.close()


def _command(args: argparse.Namespace, path: Path, http: httpx.Client) -> dict[str, Any]:
    if args.cmd == "enroll":
        _, base = parse_enrollment_uri(args.uri)
        base_url = base or args.base_url
        if not base_url:
            raise SystemExit("give --base-url, or the full otpauth:// URI with base_url")
        phone = Phone(base_url, name=args.name, service=args.service)
        phone.enrolled(http.send(phone.enroll_request(args.uri)))
        save(path, state_of(phone, []))
        assert phone.account is not None
        return {"enrolled": phone.account.enrollment_id, "user_id": phone.account.user_id}
    state = load(path)
    if not state:
        raise SystemExit(f"no phone in {path}: enroll first")
    phone = phone_from(state)
    inbox: list[dict[str, Any]] = state.get("inbox", [])
    if args.cmd == "pending":
        return {
            "pending": [
                {"index": i, "date": p.get("d"), "from": p.get("s")} for i, p in enumerate(inbox)
            ]
        }
    if args.cmd in ("approve", "deny"):
        if not inbox:
            return {"ok": False, "message": "no pending push"}
        payload = inbox.pop(args.index)
        request = phone.resolve_request(
            payload, accept=args.cmd == "approve", reason=args.reason, number=args.number
        )
        result = answer_for(http.send(request))
        save(path, state_of(phone, inbox))
        return result
    if args.cmd == "rename":
        return answer_for(http.send(phone.update_request(name=args.name)))
    if args.cmd == "remove":
        result = answer_for(http.send(phone.delete_request()))
        if result.get("ok"):
            path.unlink()
        return result
    server = make_listener(path, args.port, args.secret or os.environ.get("MFA_WEBHOOK_SECRET"))
    print(f"listening for pushes on http://127.0.0.1:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return {"stopped": True}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="phone.py", description=__doc__.split("\n")[0])
    p.add_argument("--state", default="phone-state.json", help="where the phone keeps itself")
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("enroll", help="enroll from the QR URI or the enrollment_tx_id")
    e.add_argument("uri")
    e.add_argument("--base-url", help="the service URL, when giving a bare ticket")
    e.add_argument("--name", default="Sim Phone")
    e.add_argument("--service", choices=("GCM", "APNS"), default="GCM")
    sub.add_parser("pending", help="list pushes not answered yet")
    for verb in ("approve", "deny"):
        a = sub.add_parser(verb, help=f"{verb} a pending push (default: the newest)")
        a.add_argument("index", nargs="?", type=int, default=-1)
        a.add_argument("--reason", help="why (deny)")
        a.add_argument("--number", help="the number the browser shows (number matching)")
    sub.add_parser("rename").add_argument("name")
    sub.add_parser("remove", help="remove this phone's enrollment")
    li = sub.add_parser("listen", help="receive pushes from the service's webhook transport")
    li.add_argument("--port", type=int, default=8765)
    li.add_argument("--secret", help="MFA_WEBHOOK_SECRET of the service (checks signatures)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    result = run(sys.argv[1:] if argv is None else argv)
    print(json.dumps(result, indent=2))
    return 0 if result.get("ok", True) else 1


if __name__ == "__main__":
    sys.exit(main())
