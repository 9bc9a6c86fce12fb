"""The environment's bucket as every part of the emulator reaches it: the boto3 client and the
object questions they all ask (listings, versions)."""
