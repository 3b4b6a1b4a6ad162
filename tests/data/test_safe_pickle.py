"""Tests of icml22dl.data.safe_pickle: crafted pickles are refused, data pickles load."""

import collections
import io
import os
import pickle
import shlex

import numpy as np
import pytest
import scipy.sparse

from icml22dl.data.root import data_root
from icml22dl.data.safe_pickle import safe_load


class _RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > {shlex.quote(str(self.marker))}",))


class _CallsEval:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


def test_code_execution_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_RunsShell(marker))
    with pytest.raises(pickle.UnpicklingError) as info:
        safe_load(payload)
    assert "system" in str(info.value)
    assert os.system.__module__ in str(info.value)  # 'posix' on Linux
    assert not marker.exists()
    # Sanity check of the test itself: the plain unpickler would have run the command.
    pickle.loads(payload)
    assert marker.exists()


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_builtin_eval_is_refused(protocol):
    with pytest.raises(pickle.UnpicklingError, match="eval"):
        safe_load(pickle.dumps(_CallsEval(), protocol=protocol))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_arrays_load(protocol):
    array = np.arange(12, dtype=np.float64).reshape(3, 4)
    obj = {b"a": array, "b": np.int32(7), "c": [1, 2.5, "x", b"\xff"], "d": {1, 2}}
    loaded = safe_load(pickle.dumps(obj, protocol=protocol))
    np.testing.assert_array_equal(loaded[b"a"], array)
    assert loaded["b"] == 7 and loaded["c"] == [1, 2.5, "x", b"\xff"] and loaded["d"] == {1, 2}


def test_codecs_encode_is_limited_to_latin1():
    # Protocol <= 2 pickles bytes as _codecs.encode(text, "latin1"); nothing else is allowed.
    crafted = b"\x80\x02c_codecs\nencode\nq\x00X\x01\x00\x00\x00aX\x04\x00\x00\x00zlibq\x01\x86q\x02Rq\x03."
    with pytest.raises(pickle.UnpicklingError, match="zlib"):
        safe_load(crafted)


def test_file_objects_and_containers_load():
    graph = collections.defaultdict(list, {0: [1, 2], 1: [0]})
    loaded = safe_load(io.BytesIO(pickle.dumps(graph, protocol=2)))
    assert isinstance(loaded, collections.defaultdict) and loaded == graph


@pytest.mark.requires_data("cora")
def test_python2_planetoid_pickles_load():
    planetoid = data_root() / "planetoid"
    features = safe_load((planetoid / "ind.cora.x").read_bytes())
    assert isinstance(features, scipy.sparse.csr_matrix) and features.shape == (140, 1433)
    graph = safe_load((planetoid / "ind.cora.graph").read_bytes())
    assert isinstance(graph, collections.defaultdict) and len(graph) == 2708


def test_custom_allow_list_is_honoured():
    with pytest.raises(pickle.UnpicklingError, match="_reconstruct"):
        safe_load(pickle.dumps(np.zeros(3), protocol=2), allowed={})


def test_paths_are_not_accepted():
    with pytest.raises(TypeError, match="str"):
        safe_load("/etc/passwd")
