x = '\x61.b'
__import__('\x61.b')