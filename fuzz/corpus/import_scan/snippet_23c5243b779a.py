for x in __import__('a') if __import__('b') else __import__('c'):
    pass