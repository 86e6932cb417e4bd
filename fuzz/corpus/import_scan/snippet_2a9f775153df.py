x = f'''{
__import__("multi")
}'''