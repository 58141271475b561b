"""Calls through the gateway's public door, for integration tests: REST+JSON with a
key (and X-Tandem-Tenant), gRPC with the same, and a new tenant with a key."""
import uuid

import grpc

import harness


class Gateway:
    def __init__(self, stack):
        self.stack = stack

    def rest(self, method, path, body=None, key=None, tenant=None, idem=None, timeout=30):
        """(HTTP status, decoded JSON body): harness.rest with an Idempotency-Key."""
        headers = {"Idempotency-Key": idem} if idem is not None else None
        return harness.rest(self.stack.addr("gateway"), method, path, body, key=key,
                            tenant=tenant, headers=headers, timeout=timeout)

    def rpc(self, service, method, req, resp_type, key, tenant=None, idem=None, timeout=30):
        """A gRPC call; raises grpc.RpcError on a refusal."""
        md = [("authorization", "Bearer " + key)]
        if tenant is not None:
            md.append(("x-tandem-tenant", tenant))
        if idem is not None:
            md.append(("idempotency-key", idem))
        ch = self.stack.channel("gateway")
        try:
            fn = ch.unary_unary("/tandem.v1.%s/%s" % (service, method),
                                request_serializer=lambda m: m.SerializeToString(),
                                response_deserializer=resp_type.FromString)
            return fn(req, metadata=md, timeout=timeout)
        finally:
            ch.close()

    def rpc_code(self, service, method, req, resp_type, key, tenant=None):
        """The status code of a call expected to be refused."""
        try:
            self.rpc(service, method, req, resp_type, key, tenant=tenant)
        except grpc.RpcError as e:
            return e.code()
        raise AssertionError("%s succeeded unexpectedly" % method)

    def new_tenant(self, root, scopes, prefix="it"):
        """(tenant id, secret of a tenant key with the scopes), made with the platform
        key root."""
        slug = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
        status, t = self.rest("POST", "/v1/tenants", {"name": slug, "slug": slug}, key=root)
        assert status == 200, (status, t)
        status, k = self.rest("POST", "/v1/tenants/%s/apiKeys" % t["id"],
                              {"displayName": slug, "scopes": scopes, "kind": "TENANT"},
                              key=root)
        assert status == 200, (status, k)
        return t["id"], k["secret"]

    def wait_up(self, root, timeout=60):
        """Until the gateway answers an authenticated call."""
        import time
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.rest("GET", "/v1/tenants", key=root)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the gateway did not come up:\n" + self.stack.log_tail("gateway"))
