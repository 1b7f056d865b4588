"""Uploads and downloads.

Downloads are always ``Content-Disposition: attachment`` with ``nosniff`` and a
sandboxing CSP, so nothing uploaded ever renders as a page on our origin (SVG and HTML
included: they are stored as application/octet-stream anyway).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Response, UploadFile

from redoubt.actions.files import do_upload_file
from redoubt.api.deps import Auth, Ctx, path_id, scoped
from redoubt.core.errors import PayloadTooLarge
from redoubt.domain.scopes import Scope
from redoubt.domain.views import FileView
from redoubt.queries.files import access_file
from redoubt.storage.records import FileRecord

__all__ = ["attachment_response", "router"]

router = APIRouter(tags=["files"])


@router.post(
    "/rooms/{room_id}/files",
    openapi_extra=scoped(Scope.MESSAGES_WRITE),
    response_model=FileView,
    status_code=201,
)
async def upload(
    room_id: str,
    requester: Auth,
    ctx: Ctx,
    file: Annotated[UploadFile, File(description="The file (multipart field 'file').")],
) -> FileView:
    """Upload a file into a room; attach it by posting a message with its id in
    ``file_ids``. The stored type comes from the bytes, not from the client."""
    data = await file.read(ctx.settings.max_upload_bytes + 1)
    if len(data) > ctx.settings.max_upload_bytes:
        raise PayloadTooLarge
    return await do_upload_file(
        ctx, path_id(room_id), filename=file.filename or "file", data=data, acting_user=requester
    )


@router.get(
    "/files/{file_id}",
    openapi_extra=scoped(Scope.MESSAGES_READ),
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def download(file_id: str, requester: Auth, ctx: Ctx) -> Response:
    record, data = await access_file(ctx, requester, path_id(file_id))
    return attachment_response(record, data)


def attachment_response(record: FileRecord, data: bytes) -> Response:
    """A download: always an attachment, never sniffed, sandboxed, never cached (also
    the Bot API's file route)."""
    ascii_name = record.filename.encode("ascii", "replace").decode().replace('"', "_")
    return Response(
        content=data,
        media_type=record.content_type,
        headers={
            "Content-Disposition": (
                f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(record.filename)}"
            ),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )
