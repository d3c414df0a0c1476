"""A Qdrant collection as a bulk job's output: ``--output qdrant://HOST:PORT/COLLECTION`` for a
server, ``DIR/NAME.qdrant`` for Qdrant's local mode (the collection NAME in the folder DIR).

Each input is one point: its vectors are named (``dense``; ``sparse`` and ``multi``, a MaxSim
multivector, when asked for), its payload holds ``id`` (the job's id), ``text`` (None for an image
or video), ``hash``, ``model``, the input's other columns flat (where a metadata filter of either
framework looks), ``metadata`` (those columns and ``id`` again: what langchain-qdrant's
``QdrantVectorStore(vector_name="dense", content_payload_key="text")`` reads), and ``_node_content``
(a LlamaIndex ``TextNode`` of the text and those columns: what LlamaIndex's ``QdrantVectorStore``
reads). So each framework sees the corpus's columns once and the job's bookkeeping nowhere: read
from the top level, LlamaIndex put ``hash``, ``model`` and ``metadata`` into the text it sends
rerankers and LLMs (``MetadataMode.EMBED``, ``MetadataMode.LLM``).
Qdrant wants an integer or UUID point id, so the point id is the UUID5 of the job's id: the same
input lands on the same point, and every batch is an idempotent upsert. The collection is created
with the dimension of the first answer when it is missing (cosine distance).

Resumable like the files: ``existing()`` scrolls the payloads' ``id``, ``hash`` and ``model``,
never the vectors. The collection's metadata (``cn_embeddings.settings``) records the settings
the vectors were made with and their embedding space, so a resume with another is refused.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .._exceptions import ConfigurationError
from .sinks import NOTHING, Existing, Row
from .update import Rewrite

__all__ = ["QdrantSink", "point_id"]

DENSE, SPARSE, MULTI = "dense", "sparse", "multi"
SETTINGS = "cn_embeddings.settings"  # the collection metadata's key: the vectors' settings and embedding space
_NAMESPACE = uuid.UUID("6f1c1f55-3b0e-5d5e-9d2a-c9f0c5e3a1b7")  # fixed: point ids stay the same across runs


def point_id(job_id: str) -> str:
    """The Qdrant point id of an input: a UUID5 of its id."""
    return str(uuid.uuid5(_NAMESPACE, job_id))


class QdrantSink:
    """``location``: a ``qdrant://host:port`` URL or a local-mode folder; ``collection``: its name.
    The input's other columns go into each point's payload as they came."""

    def __init__(self, location: str, collection: str) -> None:
        try:
            from qdrant_client import QdrantClient
        except ImportError:
            raise ConfigurationError("Qdrant output needs qdrant-client: pip install 'cn-embeddings[qdrant]'") from None
        if location.startswith("qdrant://"):
            parts = urlsplit(location)
            self._client = QdrantClient(host=parts.hostname, port=parts.port or 6333)
        else:
            try:
                self._client = QdrantClient(path=location)
            except RuntimeError as error:  # local mode locks its whole folder, whatever the collection
                if "already accessed" not in str(error):
                    raise
                raise ConfigurationError(
                    f"the Qdrant folder {location} is open in another process (local mode lets one process at a "
                    "time open a folder, whichever collection it writes); wait for it, or write to another folder"
                ) from None
        self.location, self.collection = location, collection
        self._created = False  # known to exist: no round trip to ask again for every batch
        self._settings: dict[str, Any] = {}

    def existing(self) -> Existing:
        if not self._client.collection_exists(self.collection):
            return NOTHING
        vectors = self._client.get_collection(self.collection).config.params.vectors
        if not isinstance(vectors, dict) or DENSE not in vectors:
            raise ConfigurationError(
                f"collection {self.collection!r} has no vector named {DENSE!r}, so cn-embeddings did not write it; "
                "choose another --output"
            )
        return Existing(self._payloads(), vectors[DENSE].size)

    def _payloads(self) -> Any:
        offset = None
        while True:
            points, offset = self._client.scroll(
                self.collection, limit=1024, offset=offset, with_payload=["id", "hash", "model"], with_vectors=False
            )
            for point in points:
                payload = point.payload or {}
                yield str(payload.get("id")), str(payload.get("hash")), str(payload.get("model"))
            if offset is None:
                return

    def write(self, rows: list[Row], model: str) -> None:
        from qdrant_client import models

        if not self._created and not self._client.collection_exists(self.collection):
            sparse = any(row.sparse is not None for row in rows)
            vectors = {DENSE: models.VectorParams(size=len(rows[0].vector), distance=models.Distance.COSINE)}
            multi = next((row.multi for row in rows if row.multi), None)
            if multi:  # token-level vectors, compared by MaxSim (late interaction)
                vectors[MULTI] = models.VectorParams(
                    size=len(multi[0]),
                    distance=models.Distance.COSINE,
                    multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
                )
            self._client.create_collection(
                self.collection,
                vectors_config=vectors,
                sparse_vectors_config={SPARSE: models.SparseVectorParams()} if sparse else None,
                metadata={SETTINGS: self._settings} if self._settings else None,
            )
        self._created = True
        points = []
        for row in rows:
            vector: dict[str, Any] = {DENSE: row.vector}
            if row.sparse is not None:
                indices = sorted(row.sparse)
                vector[SPARSE] = models.SparseVector(indices=indices, values=[row.sparse[i] for i in indices])
            if row.multi:
                vector[MULTI] = [list(r) for r in row.multi]
            payload = _payload(row.id, row.text, row.hash, model, row.fields)
            points.append(models.PointStruct(id=point_id(row.id), vector=vector, payload=payload))
        self._client.upsert(self.collection, points=points, wait=True)

    def edit(self, drop: Callable[[str], bool], rewrite: Rewrite, model: str) -> None:
        """An update's edits (:mod:`.update`): points deleted, or their payload overwritten with
        the new columns (the vectors stay); each Qdrant operation is atomic."""
        from qdrant_client import models

        if not self._client.collection_exists(self.collection):
            return
        gone: list[str] = []
        changed: list[tuple[str, str | None]] = []
        offset = None
        while True:
            points, offset = self._client.scroll(
                self.collection, limit=1024, offset=offset, with_payload=["id", "text"], with_vectors=False
            )
            for point in points:
                payload = point.payload or {}
                rid = str(payload.get("id"))
                if drop(rid):
                    gone.append(str(point.id))
                elif rid in rewrite:
                    changed.append((rid, payload.get("text")))
            if offset is None:
                break
        for at in range(0, len(gone), 1024):
            self._client.delete(
                self.collection, points_selector=models.PointIdsList(points=list(gone[at : at + 1024])), wait=True
            )
        operations = [
            models.OverwritePayloadOperation(
                overwrite_payload=models.SetPayload(
                    payload=_payload(rid, text, rewrite[rid][0], model, rewrite[rid][1]), points=[point_id(rid)]
                )
            )
            for rid, text in changed
        ]
        for at in range(0, len(operations), 1024):
            self._client.batch_update_points(self.collection, operations[at : at + 1024], wait=True)

    def set_fields(self, kinds: dict[str, str]) -> None:
        pass

    def use_settings(self, settings: dict[str, Any]) -> None:
        """Kept in the collection's metadata (with the embedding space): set when the job creates
        the collection, and on one it resumes."""
        self._settings = dict(settings)
        if self._client.collection_exists(self.collection):
            self._client.update_collection(self.collection, metadata={SETTINGS: self._settings})

    def recorded_settings(self) -> dict[str, Any] | None:
        if not self._client.collection_exists(self.collection):
            return None
        metadata = self._client.get_collection(self.collection).config.metadata or {}
        recorded = metadata.get(SETTINGS)
        return recorded if isinstance(recorded, dict) else None

    def close(self) -> None:
        self._client.close()


def _payload(rid: str, text: str | None, digest: str, model: str, fields: Mapping[str, Any] | None) -> dict[str, Any]:
    """A point's payload (see the module docstring)."""
    return {
        **(fields or {}),  # flat, where LlamaIndex's store reads a node's metadata
        "id": rid,
        "text": text,
        "hash": digest,
        "model": model,
        "metadata": {**(fields or {}), "id": rid},  # where LangChain's store reads it
        "_node_content": _node(rid, text, fields or {}),  # where LlamaIndex's reads it
        "_node_type": "TextNode",
    }


def _node(identity: str, text: str | None, fields: Mapping[str, Any]) -> str:
    """A LlamaIndex ``TextNode`` as its vector stores save one (``node_to_metadata_dict``), written
    without importing LlamaIndex: the text and the corpus's columns, nothing of the job's."""
    node = {"id_": identity, "text": text or "", "metadata": dict(fields), "class_name": "TextNode"}
    return json.dumps(node, ensure_ascii=False, default=str)
