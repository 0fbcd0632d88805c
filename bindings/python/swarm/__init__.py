"""libswarm for Python: Docker Swarm mode as an embeddable library, over ctypes.

    import swarm
    with swarm.Cluster.open(StateDir="/tmp/node1") as c:
        c.init()
        web = c.services.create({"Name": "web",
                                 "TaskTemplate": {"ContainerSpec": {"Image": "nginx"}}})
        print(web.id, web.name, web.replicas)

Every failing call raises a SwarmError subclass carrying the library's code
and message. Objects are snapshots (like the C handles); `reload()` reads
them again. All calls are thread-safe.
"""

import ctypes
import ctypes.util
import json
import os

__all__ = [
    "Cluster", "Service", "Node", "Task", "SwarmError", "InvalidArgument",
    "NotFound", "AlreadyExists", "Conflict", "NotLeader", "Unavailable",
    "TimedOut", "Closed", "Busy", "version",
]


def _find_library():
    explicit = os.environ.get("SWARM_LIBRARY")
    if explicit:
        return explicit
    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (os.path.join(here, "libswarm.so"),
                      os.path.join(here, "..", "..", "..", "build", "lib", "libswarm.so")):
        if os.path.exists(candidate):
            return candidate
    found = ctypes.util.find_library("swarm")
    if found:
        return found
    raise OSError("libswarm.so not found: set SWARM_LIBRARY to its path")


_lib = ctypes.CDLL(_find_library())
_c_char_p = ctypes.c_char_p
_void_p = ctypes.c_void_p


def _fn(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_free = _fn("swarm_free", None, _void_p)
_version = _fn("swarm_version", _c_char_p)
_strerror = _fn("swarm_strerror", _c_char_p, ctypes.c_int)
_last_code = _fn("swarm_error_last_code", ctypes.c_int)
_last_message = _fn("swarm_error_last_message", _c_char_p)
_open = _fn("swarm_cluster_open", ctypes.c_int, ctypes.POINTER(_void_p), _c_char_p)
_connect = _fn("swarm_cluster_connect", ctypes.c_int, ctypes.POINTER(_void_p), _c_char_p)
_init = _fn("swarm_cluster_init", ctypes.c_int, _void_p, _c_char_p)
_join = _fn("swarm_cluster_join", ctypes.c_int, _void_p, _c_char_p)
_leave = _fn("swarm_cluster_leave", ctypes.c_int, _void_p, ctypes.c_int)
_update = _fn("swarm_cluster_update", ctypes.c_int, _void_p, ctypes.c_uint64, _c_char_p, _c_char_p)
_inspect = _fn("swarm_cluster_inspect", ctypes.c_int, _void_p, ctypes.POINTER(_void_p))
_info = _fn("swarm_cluster_info", ctypes.c_int, _void_p, ctypes.POINTER(_void_p))
_set_timeout = _fn("swarm_cluster_set_call_timeout", ctypes.c_int, _void_p, ctypes.c_int)
_close = _fn("swarm_cluster_close", None, _void_p)

_svc_create = _fn("swarm_service_create", ctypes.c_int, _void_p, _c_char_p, ctypes.POINTER(_void_p))
_svc_get = _fn("swarm_service_get", ctypes.c_int, _void_p, _c_char_p, ctypes.POINTER(_void_p))
_svc_list = _fn("swarm_service_list", ctypes.c_int, _void_p, _c_char_p,
                ctypes.POINTER(ctypes.POINTER(_void_p)), ctypes.POINTER(ctypes.c_size_t))
_svc_update = _fn("swarm_service_update", ctypes.c_int, _void_p, _c_char_p, ctypes.c_uint64, _c_char_p,
                  ctypes.POINTER(_void_p))
_svc_remove = _fn("swarm_service_remove", ctypes.c_int, _void_p, _c_char_p)
_svc_json = _fn("swarm_service_json", _void_p, _void_p)
_svc_free = _fn("swarm_service_free", None, _void_p)

_node_get = _fn("swarm_node_get", ctypes.c_int, _void_p, _c_char_p, ctypes.POINTER(_void_p))
_node_list = _fn("swarm_node_list", ctypes.c_int, _void_p, _c_char_p,
                 ctypes.POINTER(ctypes.POINTER(_void_p)), ctypes.POINTER(ctypes.c_size_t))
_node_json = _fn("swarm_node_json", _void_p, _void_p)
_node_update = _fn("swarm_node_update", ctypes.c_int, _void_p, _c_char_p, ctypes.c_uint64, _c_char_p)
_node_remove = _fn("swarm_node_remove", ctypes.c_int, _void_p, _c_char_p, ctypes.c_int)
_node_free = _fn("swarm_node_free", None, _void_p)

_task_get = _fn("swarm_task_get", ctypes.c_int, _void_p, _c_char_p, ctypes.POINTER(_void_p))
_task_list = _fn("swarm_task_list", ctypes.c_int, _void_p, _c_char_p,
                 ctypes.POINTER(ctypes.POINTER(_void_p)), ctypes.POINTER(ctypes.c_size_t))
_task_json = _fn("swarm_task_json", _void_p, _void_p)
_task_free = _fn("swarm_task_free", None, _void_p)


class SwarmError(Exception):
    """A libswarm call failed. `code` is the SWARM_E* value, `message` the library's text."""

    code = None

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self):
        return self.message


class InvalidArgument(SwarmError, ValueError):
    pass


class NotFound(SwarmError, LookupError):
    pass


class AlreadyExists(SwarmError):
    pass


class Conflict(SwarmError):
    pass


class NotLeader(SwarmError):
    pass


class Unavailable(SwarmError):
    pass


class TimedOut(SwarmError, TimeoutError):
    pass


class Closed(SwarmError):
    pass


class Busy(SwarmError):
    pass


_ERRORS = {-1: InvalidArgument, -2: NotFound, -3: AlreadyExists, -4: Conflict, -5: NotLeader,
           -6: Unavailable, -7: TimedOut, -8: Closed, -9: Busy}


def _check(rc):
    if rc != 0:
        message = (_last_message() or b"").decode("utf-8", "replace")
        raise _ERRORS.get(rc, SwarmError)(rc, message)


def _enc(text):
    return None if text is None else text.encode("utf-8")


def _json_arg(value):
    if value is None:
        return None
    if isinstance(value, (bytes, str)):
        return _enc(value) if isinstance(value, str) else value
    return json.dumps(value).encode("utf-8")


def _take_text(ptr):
    """Copies and frees a char* returned by the library."""
    if not ptr:
        raise MemoryError("libswarm returned no text")
    try:
        return ctypes.string_at(ptr).decode("utf-8")
    finally:
        _free(ptr)


def version():
    return _version().decode()


class _Object:
    """A snapshot of one Docker-shaped object; `attrs` is its JSON as a dict."""

    _json = None
    _free_one = None

    def __init__(self, cluster, handle):
        self._cluster = cluster
        try:
            self.attrs = json.loads(_take_text(type(self)._json(handle)))
        finally:
            type(self)._free_one(handle)

    @property
    def id(self):
        return self.attrs.get("ID", "")

    @property
    def version(self):
        return self.attrs.get("Version", {}).get("Index", 0)

    def __repr__(self):
        return "<%s %s>" % (type(self).__name__, self.id[:12])

    def __eq__(self, other):
        return type(self) is type(other) and self.attrs == other.attrs

    __hash__ = None


class Service(_Object):
    _json = staticmethod(_svc_json)
    _free_one = staticmethod(_svc_free)

    @property
    def name(self):
        return self.attrs["Spec"]["Name"]

    @property
    def spec(self):
        return self.attrs["Spec"]

    @property
    def image(self):
        return self.spec.get("TaskTemplate", {}).get("ContainerSpec", {}).get("Image", "")

    @property
    def mode(self):
        mode = self.spec.get("Mode", {})
        for key, name in (("Global", "global"), ("ReplicatedJob", "replicated-job"), ("GlobalJob", "global-job")):
            if key in mode:
                return name
        return "replicated"

    @property
    def replicas(self):
        mode = self.spec.get("Mode", {})
        if "Replicated" in mode:
            return mode["Replicated"].get("Replicas", 0)
        if "ReplicatedJob" in mode:
            return mode["ReplicatedJob"].get("TotalCompletions", 0)
        return 0

    def reload(self):
        return self._cluster.services.get(self.id)

    def update(self, spec):
        """Replaces the spec (at this snapshot's version); returns the new snapshot."""
        return self._cluster.services.update(self.id, self.version, spec)

    def scale(self, replicas):
        if self.mode != "replicated":
            raise InvalidArgument(-1, "scale can only be used with replicated mode")
        spec = json.loads(json.dumps(self.spec))
        spec["Mode"] = {"Replicated": {"Replicas": int(replicas)}}
        return self.update(spec)

    def tasks(self, **filters):
        filters["service"] = [self.id]
        return self._cluster.tasks.list(filters)

    def remove(self):
        self._cluster.services.remove(self.id)


class Node(_Object):
    _json = staticmethod(_node_json)
    _free_one = staticmethod(_node_free)

    @property
    def hostname(self):
        return self.attrs.get("Description", {}).get("Hostname", "")

    @property
    def role(self):
        return self.attrs.get("Spec", {}).get("Role", "")

    @property
    def availability(self):
        return self.attrs.get("Spec", {}).get("Availability", "")

    @property
    def state(self):
        return self.attrs.get("Status", {}).get("State", "")

    @property
    def labels(self):
        return self.attrs.get("Spec", {}).get("Labels", {})

    def update(self, **changes):
        """Changes Spec fields (availability="drain", labels={...}); returns the new snapshot."""
        spec = json.loads(json.dumps(self.attrs.get("Spec", {})))
        for key, value in changes.items():
            spec[key[:1].upper() + key[1:]] = value
        self._cluster.nodes.update(self.id, self.version, spec)
        return self._cluster.nodes.get(self.id)

    @property
    def leader(self):
        return bool(self.attrs.get("ManagerStatus", {}).get("Leader", False))


class Task(_Object):
    _json = staticmethod(_task_json)
    _free_one = staticmethod(_task_free)

    @property
    def service_id(self):
        return self.attrs.get("ServiceID", "")

    @property
    def node_id(self):
        return self.attrs.get("NodeID", "")

    @property
    def slot(self):
        return self.attrs.get("Slot", 0)

    @property
    def state(self):
        return self.attrs.get("Status", {}).get("State", "")

    @property
    def desired_state(self):
        return self.attrs.get("DesiredState", "")


class _Collection:
    _kind = None

    def __init__(self, cluster):
        self._cluster = cluster

    def _wrap(self, handle):
        return self._kind(self._cluster, handle)

    def _get(self, fn, ref):
        out = _void_p()
        _check(fn(self._cluster._handle_or_raise(), _enc(ref), ctypes.byref(out)))
        return self._wrap(out)

    def _list(self, fn, filters):
        arr = ctypes.POINTER(_void_p)()
        count = ctypes.c_size_t()
        _check(fn(self._cluster._handle_or_raise(), _json_arg(filters), ctypes.byref(arr), ctypes.byref(count)))
        try:
            handles = [arr[i] for i in range(count.value)]
        finally:
            _free(ctypes.cast(arr, _void_p))
        return [self._wrap(h) for h in handles]


class Services(_Collection):
    _kind = Service

    def create(self, spec):
        """Creates a service from a ServiceSpec (dict or JSON text)."""
        out = _void_p()
        _check(_svc_create(self._cluster._handle_or_raise(), _json_arg(spec), ctypes.byref(out)))
        return self._wrap(out)

    def get(self, id_or_name):
        return self._get(_svc_get, id_or_name)

    def list(self, filters=None):
        return self._list(_svc_list, filters)

    def update(self, id_or_name, version, spec):
        out = _void_p()
        _check(_svc_update(self._cluster._handle_or_raise(), _enc(id_or_name), int(version), _json_arg(spec),
                           ctypes.byref(out)))
        return self._wrap(out)

    def remove(self, id_or_name):
        _check(_svc_remove(self._cluster._handle_or_raise(), _enc(id_or_name)))


class Nodes(_Collection):
    _kind = Node

    def get(self, id_or_name="self"):
        return self._get(_node_get, id_or_name)

    def update(self, id_or_name, version, spec):
        """Replaces a node's Spec (Availability, Labels, Role, Name) at its Version.Index."""
        _check(_node_update(self._cluster._handle_or_raise(), _enc(id_or_name), int(version), _json_arg(spec)))

    def remove(self, id_or_name, force=False):
        _check(_node_remove(self._cluster._handle_or_raise(), _enc(id_or_name), 1 if force else 0))

    def list(self, filters=None):
        return self._list(_node_list, filters)


class Tasks(_Collection):
    _kind = Task

    def get(self, task_id):
        return self._get(_task_get, task_id)

    def list(self, filters=None):
        return self._list(_task_list, filters)


class Cluster:
    """A libswarm node: Cluster.open(**options) embeds one, Cluster.connect(url) talks to swarmd.

    Close it with close() or a with block.
    """

    def __init__(self, handle):
        self._handle = handle
        self.services = Services(self)
        self.nodes = Nodes(self)
        self.tasks = Tasks(self)

    @classmethod
    def open(cls, options=None, **kwargs):
        """Opens an embedded node; options as swarm_cluster_open's JSON keys (StateDir=..., Store=...)."""
        opts = dict(options or {})
        opts.update(kwargs)
        handle = _void_p()
        _check(_open(ctypes.byref(handle), json.dumps(opts).encode()))
        return cls(handle)

    @classmethod
    def connect(cls, url):
        """Connects to a node served by another process, e.g. swarmd: connect("unix:///path/swarmd.sock")."""
        handle = _void_p()
        _check(_connect(ctypes.byref(handle), _enc(url)))
        return cls(handle)

    def _handle_or_raise(self):
        if not self._handle:
            raise Closed(-8, "the cluster handle is closed")
        return self._handle

    def init(self, request=None, **kwargs):
        """Makes this node the first manager of a new swarm (Docker's POST /swarm/init body)."""
        body = dict(request or {})
        body.update(kwargs)
        _check(_init(self._handle_or_raise(), _json_arg(body) if body else None))
        return self.info()["NodeID"]

    def join(self, remote_addr, token, **kwargs):
        """Joins a swarm through the manager at remote_addr with a join token (Docker's POST /swarm/join)."""
        body = {"RemoteAddrs": [remote_addr], "JoinToken": token}
        body.update(kwargs)
        _check(_join(self._handle_or_raise(), _json_arg(body)))
        return self.info()["NodeID"]

    def leave(self, force=False):
        _check(_leave(self._handle_or_raise(), 1 if force else 0))

    def update(self, spec=None, rotate_worker_token=False, rotate_manager_token=False, version=None):
        """Updates the swarm's Spec and/or rotates join tokens (Docker's POST /swarm/update)."""
        if version is None:
            version = self.inspect()["Version"]["Index"]
        flags = {}
        if rotate_worker_token:
            flags["RotateWorkerToken"] = True
        if rotate_manager_token:
            flags["RotateManagerToken"] = True
        _check(_update(self._handle_or_raise(), int(version), _json_arg(spec), _json_arg(flags) if flags else None))

    @property
    def join_tokens(self):
        return self.inspect().get("JoinTokens", {})

    def info(self):
        out = _void_p()
        _check(_info(self._handle_or_raise(), ctypes.byref(out)))
        return json.loads(_take_text(out))

    def inspect(self):
        out = _void_p()
        _check(_inspect(self._handle_or_raise(), ctypes.byref(out)))
        return json.loads(_take_text(out))

    def set_call_timeout(self, ms):
        _check(_set_timeout(self._handle_or_raise(), int(ms)))

    def close(self):
        if self._handle:
            _close(self._handle)
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
