"""Writes password-hash fixtures made by each ecosystem's own library.

Run by scripts/hash-fixtures.sh (which pins the libraries). Output, in the directory given:
  hashes.json          [{"format", "source", "password", "hash"}], one per format and library
  keycloak-realm.json  a Keycloak realm export (Keycloak's documented credential format:
                       secretData/credentialData JSON strings, and the pre-10 flat form)
Nothing here imitates an algorithm: every hash comes from the named library (bcrypt, Werkzeug,
passlib, Django's hashers, argon2-cffi, hashlib).
"""
import base64
import hashlib
import json
import os
import sys

import argon2
import bcrypt
import django
from importlib.metadata import version
from argon2.low_level import Type, hash_secret, hash_secret_raw
from django.conf import settings
from passlib.hash import pbkdf2_sha1, pbkdf2_sha256, pbkdf2_sha512, scrypt as passlib_scrypt
from werkzeug.security import generate_password_hash

settings.configure(
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    USE_TZ=True,
    PASSWORD_HASHERS=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
        "django.contrib.auth.hashers.BCryptPasswordHasher",
        "django.contrib.auth.hashers.ScryptPasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
)
django.setup()
from django.contrib.auth.hashers import make_password  # noqa: E402

PASSWORDS = [
    "correct horse battery staple",
    "pässwörd-ünïcode-🔑",
    "Tr0ub4dor&3",
]
# Longer than bcrypt's 72 bytes: the Node origins' bcrypt hashed only the first 72 bytes and
# accepted any password sharing them. bcrypt 5 refuses such input, so the hash is of the
# first 72 bytes, as the origin stored it; the fixture's password is the whole one.
LONG = "a-passphrase-of-more-than-seventy-two-bytes-" * 2

out = []


def add(fmt, source, password, hashed):
    out.append({"format": fmt, "source": source, "password": password, "hash": hashed})


def pw_cycle():
    while True:
        for p in PASSWORDS:
            yield p


pw = pw_cycle()
bv, wv, pv, dv, av = (version(n) for n in ("bcrypt", "Werkzeug", "passlib", "Django", "argon2-cffi"))

# bcrypt (the Python package is the reference C implementation of OpenBSD's bcrypt).
for rounds in (4, 6):
    p = next(pw)
    add("bcrypt", f"bcrypt {bv} hashpw(gensalt(rounds={rounds}))", p,
        bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=rounds)).decode())
p = next(pw)
add("bcrypt", f"bcrypt {bv} hashpw(gensalt(rounds=5, prefix=b'2a'))", p,
    bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=5, prefix=b"2a")).decode())
p = next(pw)
h = bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=5)).decode()
# PHP's $2y$ is the same algorithm under another label (crypt_blowfish's fixed variant).
add("bcrypt", f"bcrypt {bv} hashpw(gensalt(rounds=5)), labelled $2y$ as PHP writes it", p,
    "$2y$" + h[4:])
add("bcrypt", f"bcrypt {bv} hashpw(first 72 bytes, gensalt(rounds=5)) — the origin's truncation", LONG,
    bcrypt.hashpw(LONG.encode()[:72], bcrypt.gensalt(rounds=5)).decode())
p = next(pw)
add("bcrypt", f"bcrypt {bv} hashpw(gensalt(rounds=10, prefix=b'2a')) — Supabase's auth.users form", p,
    bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=10, prefix=b"2a")).decode())

# Werkzeug (Flask).
for method in ("pbkdf2:sha256:600000", "pbkdf2:sha512:25000", "pbkdf2:sha1:1000", "pbkdf2", "scrypt", "scrypt:16384:8:1"):
    p = next(pw)
    add("werkzeug", f"werkzeug {wv} generate_password_hash(method={method!r})", p,
        generate_password_hash(p, method=method))

# Django's hashers.
for hasher in ("pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt", "scrypt"):
    p = next(pw)
    add("django", f"Django {dv} make_password(hasher={hasher!r})", p, make_password(p, hasher=hasher))
p = next(pw)
add("django-weak", f"Django {dv} make_password(hasher='md5') (salted MD5)", p, make_password(p, hasher="md5"))

# passlib.
for name, h in (("pbkdf2_sha256", pbkdf2_sha256), ("pbkdf2_sha1", pbkdf2_sha1), ("pbkdf2_sha512", pbkdf2_sha512)):
    p = next(pw)
    add("passlib", f"passlib {pv} {name}.hash()", p, h.hash(p))
p = next(pw)
add("passlib", f"passlib {pv} scrypt.using(rounds=14).hash()", p, passlib_scrypt.using(rounds=14).hash(p))

# argon2-cffi (the reference C implementation).
p = next(pw)
add("argon2", f"argon2-cffi {av} PasswordHasher().hash() (argon2id, its defaults)", p, argon2.PasswordHasher().hash(p))
for t, label in ((Type.I, "argon2i"), (Type.D, "argon2d")):
    p = next(pw)
    add("argon2", f"argon2-cffi {av} low_level.hash_secret(type={label}, m=8192, t=2, p=2)", p,
        hash_secret(p.encode(), os.urandom(16), time_cost=2, memory_cost=8192, parallelism=2,
                    hash_len=32, type=t).decode())
p = next(pw)
add("argon2", f"argon2-cffi {av} low_level.hash_secret(argon2id, version=0x10, m=4096, t=3, p=1)", p,
    hash_secret(p.encode(), os.urandom(16), time_cost=3, memory_cost=4096, parallelism=1,
                hash_len=32, type=Type.ID, version=0x10).decode())

# Unsalted digests, as old homegrown tables stored them: refused unless accepted as weak.
p = next(pw)
add("weak", "hashlib md5(password).hexdigest()", p, hashlib.md5(p.encode()).hexdigest())
p = next(pw)
add("weak", "hashlib sha1(password).hexdigest()", p, hashlib.sha1(p.encode()).hexdigest())

dest = sys.argv[1]
with open(os.path.join(dest, "hashes.json"), "w", encoding="utf-8") as f:
    json.dump(out, f, indent=1, ensure_ascii=False)
    f.write("\n")


# A Keycloak realm export. Keycloak's PBKDF2 providers store base64(salt) and
# base64(PBKDF2-HMAC(password UTF-8, salt, iterations, 512 bits)); its argon2 provider stores
# base64 of the raw argon2 output with the parameters in credentialData.additionalParameters.
def b64(b):
    return base64.b64encode(b).decode()


def kc_pbkdf2(password, algorithm, iterations):
    digest = {"pbkdf2": "sha1", "pbkdf2-sha256": "sha256", "pbkdf2-sha512": "sha512"}[algorithm]
    salt = os.urandom(16)
    value = hashlib.pbkdf2_hmac(digest, password.encode(), salt, iterations, dklen=64)
    return salt, value


def kc_credential(salt, value, algorithm, iterations, params=None):
    return {
        "id": "8f0a3b52-" + os.urandom(2).hex() + "-4c1e-9d1a-" + os.urandom(6).hex(),
        "type": "password",
        "userLabel": "My password",
        "createdDate": 1700000000000,
        "secretData": json.dumps({"value": b64(value), "salt": b64(salt), "additionalParameters": {}}),
        "credentialData": json.dumps({"hashIterations": iterations, "algorithm": algorithm,
                                      "additionalParameters": params or {}}),
    }


users = []
passwords = {}


def kc_user(username, email, first, last, password, credentials, roles, groups, enabled=True, created=1690000000000):
    users.append({
        "id": "a1b2c3d4-" + os.urandom(2).hex() + "-4000-8000-" + os.urandom(6).hex(),
        "createdTimestamp": created,
        "username": username,
        "enabled": enabled,
        "totp": False,
        "emailVerified": True,
        "firstName": first,
        "lastName": last,
        "email": email,
        "credentials": credentials,
        "disableableCredentialTypes": [],
        "requiredActions": [],
        "realmRoles": ["default-roles-acme", "offline_access", "uma_authorization"] + roles,
        "notBefore": 0,
        "groups": groups,
    })
    if password is not None:
        passwords[username] = password


p = "correct horse battery staple"
s, v = kc_pbkdf2(p, "pbkdf2-sha256", 27500)
kc_user("alice", "alice@acme.example", "Alice", "Liddell", p,
        [kc_credential(s, v, "pbkdf2-sha256", 27500)], ["admin"], ["/Engineering"])
p = "pässwörd-ünïcode-🔑"
s, v = kc_pbkdf2(p, "pbkdf2-sha512", 210000)
kc_user("bob", "bob@acme.example", "Bob", "Builder", p,
        [kc_credential(s, v, "pbkdf2-sha512", 210000)], ["editor"], ["/Engineering/Platform"])
p = "Tr0ub4dor&3"
salt = os.urandom(16)
raw = hash_secret_raw(p.encode(), salt, time_cost=5, memory_cost=7168, parallelism=1, hash_len=32, type=Type.ID)
kc_user("carol", "carol@acme.example", "Carol", "Danvers", p,
        [kc_credential(salt, raw, "argon2", 5, {"hashLength": ["32"], "memory": ["7168"], "type": ["id"],
                                                  "version": ["1.3"], "parallelism": ["1"]})],
        [], ["/Sales"])
p = "an old keycloak password"
s, v = kc_pbkdf2(p, "pbkdf2", 20000)
# Keycloak before 10 exported credentials flat.
kc_user("dave", "dave@acme.example", "Dave", None, p,
        [{"type": "password", "hashedSaltedValue": b64(v), "salt": b64(s), "hashIterations": 20000,
          "algorithm": "pbkdf2", "digits": 0, "period": 0, "createdDate": 1500000000000, "config": {}}],
        [], [], enabled=False)
kc_user("erin", "erin@acme.example", "Erin", "Noviks", None, [], [], [])

realm = {
    "id": "acme",
    "realm": "acme",
    "enabled": True,
    "roles": {"realm": [{"name": n, "composite": False, "clientRole": False, "containerId": "acme"}
                        for n in ("admin", "editor", "offline_access", "uma_authorization", "default-roles-acme")]},
    "groups": [
        {"name": "Engineering", "path": "/Engineering", "subGroups": [
            {"name": "Platform", "path": "/Engineering/Platform", "subGroups": []}]},
        {"name": "Sales", "path": "/Sales", "subGroups": []},
    ],
    "users": users,
    "_latchkey_fixture_passwords": passwords,
}
with open(os.path.join(dest, "keycloak-realm.json"), "w", encoding="utf-8") as f:
    json.dump(realm, f, indent=1, ensure_ascii=False)
    f.write("\n")
print(f"wrote {len(out)} hashes and a realm of {len(users)} users to {dest}")



# Source exports as the origins write them, for `latchkey import --from …`.
import csv  # noqa: E402
import io  # noqa: E402
import uuid  # noqa: E402

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402

# Django: a real `manage.py dumpdata auth.user` of users made by Django's own model.
call_command("migrate", verbosity=0)
User.objects.create_superuser("root", "root@django.example", "django root password")
User.objects.create_user("ann", "ann@django.example", "pässwörd-ünïcode-🔑", first_name="Ann", last_name="Lee",
                         is_staff=True)
User.objects.create_user("ben", "ben@django.example", "Tr0ub4dor&3", is_active=False)
User.objects.create_user("cy", "cy@django.example", None)  # an unusable password
buf = io.StringIO()
call_command("dumpdata", "auth.user", indent=1, stdout=buf)
sources = {"django": {"passwords": {"root": "django root password", "ann": "pässwörd-ünïcode-🔑",
                                    "ben": "Tr0ub4dor&3"}}}
with open(os.path.join(dest, "django-auth-user.json"), "w", encoding="utf-8") as f:
    f.write(buf.getvalue())

# Supabase auth.users (the columns of its CSV export; bcrypt from the bcrypt package, as
# GoTrue's Go bcrypt writes $2a$).
sb_cols = ["instance_id", "id", "aud", "role", "email", "encrypted_password", "email_confirmed_at",
           "created_at", "updated_at", "raw_app_meta_data", "raw_user_meta_data", "banned_until",
           "deleted_at", "is_anonymous"]
sb = [
    ("sam@supa.example", "supabase password one", '{"full_name": "Sam Supa"}', "", "", "false"),
    ("tess@supa.example", "supabase password two", '{"username": "tess_s"}', "2999-01-01 00:00:00+00", "", "false"),
    ("gone@supa.example", "supabase password three", "{}", "", "2024-01-01 00:00:00+00", "false"),
]
with open(os.path.join(dest, "supabase-auth-users.csv"), "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(sb_cols)
    for email, pw, meta, banned, deleted, anon in sb:
        h = bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=5, prefix=b"2a")).decode()
        w.writerow(["00000000-0000-0000-0000-000000000000", str(uuid.uuid4()), "authenticated", "authenticated",
                    email, h, "2024-02-03 04:05:06.789+00", "2024-02-03 04:05:06.789+00",
                    "2024-02-03 04:05:06.789+00", '{"provider": "email"}', meta, banned, deleted, anon])
sources["supabase"] = {"passwords": {"sam": "supabase password one", "tess_s": "supabase password two"}}

# Directus directus_users (argon2id PHC, as its node argon2 writes them), exported with role.name.
dx = []
for first, email, pw, status, role in (("Dee", "dee@directus.example", "directus password one", "active", "Administrator"),
                                        ("Eli", "eli@directus.example", "directus password two", "suspended", "Editor")):
    dx.append({"id": str(uuid.uuid4()), "first_name": first, "last_name": None, "email": email,
               "password": argon2.PasswordHasher(time_cost=3, memory_cost=4096, parallelism=1).hash(pw),
               "status": status, "role": {"name": role}, "provider": "default"})
with open(os.path.join(dest, "directus-users.json"), "w", encoding="utf-8") as f:
    json.dump({"data": dx}["data"], f, indent=1)
    f.write("\n")
sources["directus"] = {"passwords": {"dee": "directus password one", "eli": "directus password two"}}

# fastapi-users' user table (its CSV dump; bcrypt as passlib's CryptContext stored before v13).
with open(os.path.join(dest, "fastapi-users.csv"), "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "email", "hashed_password", "is_active", "is_superuser", "is_verified"])
    for email, pw, sup in (("fay@fastapi.example", "fastapi password one", "true"),
                           ("gus@fastapi.example", "fastapi password two", "false")):
        w.writerow([str(uuid.uuid4()), email, bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=5)).decode(), "true",
                    sup, "true"])
sources["fastapi-users"] = {"passwords": {"fay": "fastapi password one", "gus": "fastapi password two"}}

with open(os.path.join(dest, "sources-passwords.json"), "w", encoding="utf-8") as f:
    json.dump(sources, f, indent=1, ensure_ascii=False)
    f.write("\n")
print(f"wrote source exports for {', '.join(sources)}")
