"""Request authentication: TC3-HMAC-SHA256 for Tencent Cloud, bearer keys for the others."""

from .bearer import BearerAuth
from .tc3 import TC3Auth, sign_tc3

__all__ = ["BearerAuth", "TC3Auth", "sign_tc3"]
