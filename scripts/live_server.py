"""A live fieldsync-server for the boundary checks (scripts/fuzz-api, scripts/tls-scan).

Starts the real server binary on 127.0.0.1 in a throwaway data folder, enrols
devices with real enrolment codes, pushes a branch's records the way a laptop
does, and reads back what the server holds. Standard library only.
"""
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import ssl
import subprocess
import tempfile
import time
import urllib.request
import uuid


class LiveServer:
    def __init__(self, binary, serve_arguments=()):
        self.binary = binary
        self.serve_arguments = list(serve_arguments)
        self.folder = tempfile.mkdtemp(prefix="fieldsync-live-")
        self.data = os.path.join(self.folder, "server")
        self.process = None
        self.port = None

    def admin(self, *arguments):
        out = subprocess.run([self.binary, *arguments, "--data", self.data, "--json"], check=True, capture_output=True, text=True).stdout
        return json.loads(out)

    def start(self):
        self.admin("init")
        self.log = open(os.path.join(self.folder, "server.log"), "w+")
        self.process = subprocess.Popen([self.binary, "serve", "--data", self.data, "--port", "0", "--metrics-port", "0", *self.serve_arguments],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            self.log.seek(0)
            found = re.search(r"listening on https://127\.0\.0\.1:(\d+)", self.log.read())
            if found:
                self.port = int(found.group(1))
                break
            if self.process.poll() is not None:
                raise SystemExit("fieldsync-server exited at start:\n" + open(self.log.name).read())
            time.sleep(0.1)
        else:
            raise SystemExit("fieldsync-server did not start within 60 s")
        self.context = ssl.create_default_context(cafile=self.ca)
        return self

    @property
    def ca(self):
        return os.path.join(self.data, "ca.pem")

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def request(self, method, path, body=None, token=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def device(self, name, role, branch):
        """A user and an enrolled device: (token, node)."""
        if branch and branch not in self.admin("branch", "list"):
            self.admin("branch", "add", branch)
        arguments = ["user", "add", "--name", name, "--role", role] + (["--branch", branch] if branch else [])
        code = self.admin(*arguments)["enrolment_code"]
        node = "%016x" % random.getrandbits(64)
        status, answer = self.request("POST", "/v1/enroll", {"code": code, "node": node, "device_name": name})
        assert status == 200, answer
        return answer["token"], node

    def push(self, token, node, records, counter=1):
        """Pushes each record {table, id, fields} as one mutation; returns the answer."""
        hlc = int(time.time() * 1000) << 16
        mutations = []
        for index, (table, record, fields) in enumerate(records):
            mutations.append({"origin": node, "counter": counter + index, "records": [
                {"table": table, "record": record, "node": node, "hlc": hlc + index,
                 "fields": [[name, value, 0] for name, value in fields.items()]}]})
        status, answer = self.request("POST", "/v1/sync", {"cursor": 0, "client_time": int(time.time() * 1000), "mutations": mutations}, token)
        assert status == 200 and not answer["rejected"], answer
        return answer

    def branch_rows(self, branch):
        """Every record of the customers of `branch`, as the server's database holds them."""
        database = sqlite3.connect(f"file:{os.path.join(self.data, 'server.sqlite')}?mode=ro", uri=True)
        customers = [row[0] for row in database.execute("SELECT id FROM customers WHERE branch = ?", (branch,))]
        rows = []
        for table in ["customers", "contacts", "agreements", "visits", "faults", "complaints"]:
            column = "id" if table == "customers" else "customer"
            for customer in customers:
                rows += [(table,) + tuple(row) for row in database.execute(f"SELECT * FROM {table} WHERE {column} = ? ORDER BY id", (customer,))]
        database.close()
        return rows

    def peak_memory_mib(self):
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def alive(self):
        return self.process.poll() is None and self.request("GET", "/v1/health")[0] == 200

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


def new_id():
    return str(uuid.uuid4())


def ningbo_file():
    """A customer of another branch with one child of each kind."""
    customer, fault, complaint = new_id(), new_id(), new_id()
    return [
        ("customers", customer, {"name": "Harbour Tower", "level": "vip", "branch": "Ningbo", "manager": "Bob"}),
        ("contacts", new_id(), {"customer": customer, "name": "Wang Fang", "phone": "+86 574 1234 5678"}),
        ("agreements", new_id(), {"customer": customer, "number": "NB-2026-17"}),
        ("faults", fault, {"customer": customer, "symptom": "cable cut", "reported_at": "2026-11-20T09:00:00+08:00", "status": "1:reported"}),
        ("fault_notes", new_id(), {"fault": fault, "at": "2026-11-20T11:00:00+08:00", "text": "splice done"}),
        ("complaints", complaint, {"customer": customer, "channel": "phone", "content": "late answer",
                                   "received_at": "2026-11-20T09:00:00+08:00", "status": "1:received"}),
        ("visits", new_id(), {"customer": customer, "at": "2026-11-22T10:00:00+08:00", "kind": "complaint-follow-up",
                              "summary": "apology", "complaint": complaint}),
    ]


def largest_requests(server, token, node):
    """The largest requests the limits allow, and a few beyond them: the
    server must answer each (2xx or 4xx) and keep running. Returns the statuses."""
    import gzip
    import zlib
    now_hlc = int(time.time() * 1000) << 16
    customers = [new_id(), new_id()]
    statuses = {}

    def sync(mutations, raw=None, gzipped=False):
        body = raw if raw is not None else json.dumps(
            {"cursor": 0, "client_time": int(time.time() * 1000), "mutations": mutations}, ensure_ascii=False).encode()
        request = urllib.request.Request(server.url + "/v1/sync", data=body, method="POST")
        request.add_header("Authorization", "Bearer " + token)
        request.add_header("Content-Type", "application/json")
        if gzipped:
            request.add_header("Content-Encoding", "gzip")
        try:
            with urllib.request.urlopen(request, context=server.context, timeout=300) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as error:
            error.read()
            return error.code
        except urllib.error.URLError:
            return "closed while sending (over the body limit)"

    def mutation(counter, records):
        return {"origin": node, "counter": counter, "records": [
            {"table": table, "record": record, "node": node, "hlc": now_hlc + counter, "fields": fields}
            for table, record, fields in records]}

    statuses["create two customers"] = sync([mutation(10_000 + i, [("customers", customer, [
        ["name", f"Load {i}", 0], ["level", "standard", 0], ["branch", "Hangzhou", 0], ["manager", "Alice", 0]])])
        for i, customer in enumerate(customers)])
    # 1,000 mutations of 100 changes: the most changes a push may carry.
    statuses["100,000 changes"] = sync([mutation(20_000 + i, [
        ("customers", customers[0], [["notes", f"n{i}.{j}", 0] for j in range(64)]),
        ("customers", customers[1], [["notes", f"m{i}.{j}", 0] for j in range(36)])]) for i in range(1_000)])
    # Long values: 400 mutations of three 8,192-character fields (about 28 MiB of UTF-8).
    text = "长" * 8_192
    statuses["28 MiB of text"] = sync([mutation(30_000 + i, [("customers", customers[i % 2], [
        ["notes", text, 0], ["services", text, 0], ["name", text, 0]])]) for i in range(400)])
    # Beyond the limits: a gzip bomb (1 GiB of spaces) and 1,001 mutations.
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b" " * (1 << 20)
    bomb = b"".join(squeeze.compress(chunk) for _ in range(1_024)) + squeeze.flush()
    statuses[f"gzip bomb ({len(bomb) >> 10} KiB → 1 GiB)"] = sync(None, raw=bomb, gzipped=True)
    statuses["1,001 mutations"] = sync([mutation(40_000 + i, [("customers", customers[0], [["notes", "x", 0]])]) for i in range(1_001)])
    statuses["a year of KPIs"] = server.request("GET", "/v1/kpi?start=2026-01-01&days=366&by=manager", token=token)[0]
    # Another device of the branch pulls all of it back, in pages of at most 4 MiB.
    reader, _ = server.device("Load reader", "supervisor", "Hangzhou")
    cursor, pages = 0, 0
    while True:
        status, answer = server.request("POST", "/v1/sync", {"cursor": cursor, "client_time": int(time.time() * 1000), "mutations": []}, reader)
        pages += 1
        if status != 200 or not answer["more"] or pages > 1_000:
            break
        cursor = answer["cursor"]
    statuses[f"pull ({pages} pages)"] = status
    return statuses
