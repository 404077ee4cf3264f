"""Extra ``pedata verify`` checks contributed by features (releases, tombstones, lineage, ...).

Each module here defines ``run(ctx: verify.Context) -> None`` and reports through
``ctx.violation(file, reason, commit=None)``; modules are discovered automatically.
"""
