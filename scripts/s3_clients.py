#!/usr/bin/env python3
"""Real S3 clients against a running sofgate (scripts/s3-clients.sh starts
it): the AWS CLI, boto3 and rclone, each result checked through S3, through
the Swift API and on the device. Prints one line per check and
"N passed, M failed"; exits 1 on any failure.

Usage: s3_clients.py ENDPOINT DEVICE SCRATCH
"""

import hashlib
import json
import os
import subprocess
import sys
import urllib.request

import boto3
from botocore.config import Config

ENDPOINT, DEVICE, SCRATCH = sys.argv[1:4]
ACCESS, SECRET = "test:tester", "testing"
ENV = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS, AWS_SECRET_ACCESS_KEY=SECRET,
           AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
           RCLONE_CONFIG_SG_TYPE="s3", RCLONE_CONFIG_SG_PROVIDER="Other",
           RCLONE_CONFIG_SG_ENDPOINT=ENDPOINT, RCLONE_CONFIG_SG_ACCESS_KEY_ID=ACCESS,
           RCLONE_CONFIG_SG_SECRET_ACCESS_KEY=SECRET, RCLONE_CONFIG_SG_REGION="us-east-1",
           RCLONE_CONFIG="/dev/null")
# A CA bundle set for other tools makes rclone's AWS SDK refuse its own
# transport; this is plain HTTP on loopback.
ENV.pop("AWS_CA_BUNDLE", None)
results = [0, 0]


def check(desc, ok, detail=""):
    results[0 if ok else 1] += 1
    print(f"{'ok  ' if ok else 'FAIL'} - {desc}" + ("" if ok else f": {detail}"[:2000]))


def run(*args):
    """Runs a client command; its exit code and output."""
    p = subprocess.run(args, env=ENV, capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout + p.stderr


def aws(*args):
    return run("aws", "--endpoint-url", ENDPOINT, *args)


def md5(b):
    return hashlib.md5(b).hexdigest()


def on_disk(bucket, key):
    with open(os.path.join(DEVICE, "AUTH_test", bucket, key), "rb") as f:
        return f.read()


def swift_get(bucket, key):
    """The object through the Swift API: status, headers, body."""
    req = urllib.request.Request(f"{ENDPOINT}/auth/v1.0",
                                 headers={"X-Auth-User": ACCESS, "X-Auth-Key": SECRET})
    with urllib.request.urlopen(req, timeout=30) as r:
        token, url = r.headers["X-Auth-Token"], r.headers["X-Storage-Url"]
    req = urllib.request.Request(f"{url}/{bucket}/{key}", headers={"X-Auth-Token": token})
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, dict(r.headers), r.read()


def tree(base, files):
    for rel, data in files.items():
        p = os.path.join(base, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)


def aws_cli():
    rc, out = aws("s3", "mb", "s3://cli")
    check("aws s3 mb", rc == 0, out)
    big = os.urandom(50 << 20)
    src = os.path.join(SCRATCH, "big.bin")
    with open(src, "wb") as f:
        f.write(big)
    rc, out = aws("s3", "cp", src, "s3://cli/dir/big.bin")
    check("aws s3 cp of 50 MiB (a multipart upload)", rc == 0, out)
    back = os.path.join(SCRATCH, "big.back")
    rc, out = aws("s3", "cp", "s3://cli/dir/big.bin", back)
    check("aws s3 cp back: the same bytes",
          rc == 0 and open(back, "rb").read() == big, out)
    check("... a plain file on the device with those bytes", on_disk("cli", "dir/big.bin") == big)
    status, _, body = swift_get("cli", "dir/big.bin")
    check("... served by the Swift API", status == 200 and body == big, status)

    files = {f"d{i % 3}/f{i}.txt": os.urandom(100 + i) for i in range(20)}
    local = os.path.join(SCRATCH, "sync")
    tree(local, files)
    rc, out = aws("s3", "sync", local, "s3://cli/sync")
    check("aws s3 sync of 20 files", rc == 0 and out.count("upload:") == 20, out)
    rc, out = aws("s3", "sync", local, "s3://cli/sync")
    check("... a second sync uploads nothing", rc == 0 and "upload:" not in out, out)
    files["d1/f1.txt"] = b"changed, and longer than before: " + os.urandom(300)
    tree(local, {"d1/f1.txt": files["d1/f1.txt"]})
    rc, out = aws("s3", "sync", local, "s3://cli/sync")
    check("... after one change, one upload", rc == 0 and out.count("upload:") == 1, out)
    down = os.path.join(SCRATCH, "sync-down")
    rc, out = aws("s3", "sync", "s3://cli/sync", down)
    got = {os.path.relpath(os.path.join(d, n), down): open(os.path.join(d, n), "rb").read()
           for d, _, ns in os.walk(down) for n in ns}
    check("... synced back down, the same tree", rc == 0 and got == files, out)

    rc, out = aws("s3api", "list-objects-v2", "--bucket", "cli", "--prefix", "sync/",
                  "--delimiter", "/")
    doc = json.loads(out) if rc == 0 else {}
    prefixes = sorted(p["Prefix"] for p in doc.get("CommonPrefixes", []))
    check("aws s3api list-objects-v2 --delimiter: the common prefixes",
          prefixes == ["sync/d0/", "sync/d1/", "sync/d2/"], out)
    rc, out = aws("s3api", "list-objects-v2", "--bucket", "cli", "--prefix", "sync/d1/")
    doc = json.loads(out) if rc == 0 else {}
    listed = {o["Key"]: o["ETag"].strip('"') for o in doc.get("Contents", [])}
    want = {f"sync/{k}": md5(v) for k, v in files.items() if k.startswith("d1/")}
    check("aws s3api list-objects-v2: keys and ETags", listed == want, out)


def boto():
    s3 = boto3.client("s3", endpoint_url=ENDPOINT, aws_access_key_id=ACCESS,
                      aws_secret_access_key=SECRET, region_name="us-east-1",
                      config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
    s3.create_bucket(Bucket="boto")
    data = os.urandom(3000)
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "boto", "Key": "pre/put"},
                                    ExpiresIn=300)
    req = urllib.request.Request(url, data=data, method="PUT")
    with urllib.request.urlopen(req, timeout=30) as r:
        check("boto3 presigned PUT", r.status == 200, r.status)
    check("... the file on the device", on_disk("boto", "pre/put") == data)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "boto", "Key": "pre/put"},
                                    ExpiresIn=300)
    with urllib.request.urlopen(url, timeout=30) as r:
        check("boto3 presigned GET", r.status == 200 and r.read() == data)

    part = os.urandom(5 << 20)
    s3.put_object(Bucket="boto", Key="source", Body=part + b"tail")
    up = s3.create_multipart_upload(Bucket="boto", Key="assembled",
                                    Metadata={"color": "blue"})["UploadId"]
    p1 = s3.upload_part_copy(Bucket="boto", Key="assembled", UploadId=up, PartNumber=1,
                             CopySource={"Bucket": "boto", "Key": "source"},
                             CopySourceRange=f"bytes=0-{len(part) - 1}")
    last = os.urandom(1234)
    p2 = s3.upload_part(Bucket="boto", Key="assembled", UploadId=up, PartNumber=2, Body=last)
    done = s3.complete_multipart_upload(
        Bucket="boto", Key="assembled", UploadId=up,
        MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]},
            {"PartNumber": 2, "ETag": p2["ETag"]}]})
    check("boto3 multipart with UploadPartCopy: the multipart ETag",
          done["ETag"].strip('"').endswith("-2"), done)
    got = s3.get_object(Bucket="boto", Key="assembled")
    check("... GET returns both parts", got["Body"].read() == part + last)
    # Header names go out title-cased (as from Swift's s3api), so boto3
    # shows the key as "Color" where AWS would give "color".
    meta = {k.lower(): v for k, v in got["Metadata"].items()}
    check("... with its metadata", meta == {"color": "blue"}, got["Metadata"])
    check("... one plain file on the device", on_disk("boto", "assembled") == part + last)
    status, headers, body = swift_get("boto", "assembled")
    check("... served by the Swift API with its metadata",
          status == 200 and body == part + last
          and headers.get("X-Object-Meta-Color") == "blue", (status, headers))


def rclone():
    files = {f"r/{i}/{j}.dat": os.urandom(500 * i + j) for i in range(3) for j in range(4)}
    local = os.path.join(SCRATCH, "rclone")
    tree(local, files)
    rc, out = run("rclone", "mkdir", "sg:rclone")
    check("rclone mkdir", rc == 0, out)
    rc, out = run("rclone", "sync", local, "sg:rclone")
    check("rclone sync of 12 files", rc == 0, out)
    rc, out = run("rclone", "check", local, "sg:rclone")
    check("rclone check: every file matches (sizes and MD5)", rc == 0, out)
    os.remove(os.path.join(local, "r/1/2.dat"))
    rc, out = run("rclone", "sync", local, "sg:rclone")
    rc2, out2 = run("rclone", "check", local, "sg:rclone")
    check("... after a local delete, sync removes it and check agrees",
          rc == 0 and rc2 == 0 and not os.path.exists(os.path.join(DEVICE, "AUTH_test",
                                                                   "rclone", "r/1/2.dat")),
          out + out2)


def main():
    os.makedirs(SCRATCH, exist_ok=True)
    for part in (aws_cli, boto, rclone):
        print(f"# {part.__name__}")
        try:
            part()
        except Exception as e:  # a client error ends that part, counted
            check(f"{part.__name__} ran to its end", False, repr(e))
    print(f"{results[0]} passed, {results[1]} failed")
    return 1 if results[1] else 0


if __name__ == "__main__":
    sys.exit(main())
