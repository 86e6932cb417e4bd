async def f():
    await __import__('aw').g
    async for x in y:
        import af