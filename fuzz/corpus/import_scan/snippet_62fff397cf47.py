s = 'import not_this'
t = "from x import no"