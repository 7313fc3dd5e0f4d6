t_floor = 2.7310
t_bridge = 4.3613
t_cost = 56.00
