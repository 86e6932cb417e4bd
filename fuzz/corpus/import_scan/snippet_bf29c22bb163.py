if (n := __import__('walrus')):
    pass