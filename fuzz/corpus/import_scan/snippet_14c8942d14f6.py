async def f():
    import aio
    async with x as y:
        import w