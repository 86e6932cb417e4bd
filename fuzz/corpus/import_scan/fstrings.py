x = f'{__import__("fs")!r:>{w}}'
y = f"{'}'}{{lit}}"
z = rf'\{a}'
w = f'''{
__import__("m")
}'''
