__import__('')lambda
: