"""MWAA's CloudWatch Logs: the five log groups, what each component writes to them (through a
local spool that a shipper sends on), and reading them back."""
